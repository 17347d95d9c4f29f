// Users: who is signed in, an admin's management of users, and each user's own password.
import {
  changeOwnPasswordInput,
  createUserInput,
  createUserOutput,
  principalSchema,
  removeUserInput,
  removeUserOutput,
  updateUserInput,
  userListOutput,
  userSchema,
} from "../../users/schemas";
import { changeOwnPassword, createUser, listUsers, readAccount, removeUser, updateUser } from "../../users/users";
import { adminProcedure, publicProcedure, router, viewerProcedure } from "../init";

export const usersRouter = router({
  /** Who is signed in (null when nobody). */
  me: publicProcedure.output(principalSchema.nullable()).query(({ ctx }) => ctx.principal),
  /** The signed-in user's own account, and how they sign in. */
  account: viewerProcedure
    .meta({ rings: "none" })
    .query(({ ctx }) => readAccount(ctx.db.prisma, ctx.actor)),
  list: adminProcedure
    .meta({ rings: "fleet" })
    .output(userListOutput)
    .query(({ ctx }) => listUsers(ctx.db.prisma)),
  create: adminProcedure
    .meta({ rings: "fleet" })
    .input(createUserInput)
    .output(createUserOutput)
    .mutation(({ ctx, input }) => createUser(ctx.db.prisma, ctx.actor, input)),
  update: adminProcedure
    .meta({ rings: "fleet" })
    .input(updateUserInput)
    .output(userSchema)
    .mutation(({ ctx, input }) => updateUser(ctx.db.prisma, ctx.actor, input)),
  remove: adminProcedure
    .meta({ rings: "fleet" })
    .input(removeUserInput)
    .output(removeUserOutput)
    .mutation(({ ctx, input }) => removeUser(ctx.db.prisma, ctx.actor, input)),
  /** Any signed-in user, for themselves; ends all their sessions. */
  changePassword: viewerProcedure
    .meta({ rings: "none" })
    .input(changeOwnPasswordInput)
    .mutation(({ ctx, input }) => changeOwnPassword(ctx.db.prisma, ctx.actor, input)),
});
