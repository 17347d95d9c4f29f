// Users: who is signed in, an admin's management of users, and each user's own password.
import {
  changeOwnPasswordInput,
  createUserInput,
  createUserOutput,
  getUserInput,
  principalSchema,
  removeUserInput,
  removeUserOutput,
  signInMethodsOutput,
  updateUserInput,
  userListOutput,
  userSchema,
} from "../../users/schemas";
import {
  changeOwnPassword,
  createUser,
  getUserByEmail,
  listUsers,
  PASSWORDS_ONLY,
  readAccount,
  readSignInMethods,
  removeUser,
  updateUser,
} from "../../users/users";
import { adminProcedure, type Context, publicProcedure, router, viewerProcedure } from "../init";

const signInOf = (ctx: Context) => ctx.signIn ?? PASSWORDS_ONLY;

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
  /** One user, by e-mail. */
  get: adminProcedure
    .meta({ rings: "fleet" })
    .input(getUserInput)
    .output(userSchema)
    .query(({ ctx, input }) => getUserByEmail(ctx.db.prisma, input)),
  /** How people sign in here, and whether a user may be created (not when passwords are switched off). */
  signInMethods: adminProcedure
    .meta({ rings: "fleet" })
    .output(signInMethodsOutput)
    .query(({ ctx }) => readSignInMethods(signInOf(ctx))),
  create: adminProcedure
    .meta({ rings: "fleet" })
    .input(createUserInput)
    .output(createUserOutput)
    .mutation(({ ctx, input }) => createUser(ctx.db.prisma, ctx.actor, input, signInOf(ctx))),
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
