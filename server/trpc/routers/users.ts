import { createUserInput, updateUserInput } from "../../users/schemas";
import { createUser, listUsers, updateUser } from "../../users/users";
import { adminProcedure, publicProcedure, router } from "../init";

export const usersRouter = router({
  /** Who is signed in (null when nobody). */
  me: publicProcedure.query(({ ctx }) => ctx.user),
  list: adminProcedure.query(({ ctx }) => listUsers(ctx.db.prisma)),
  create: adminProcedure
    .input(createUserInput)
    .mutation(({ ctx, input }) => createUser(ctx.db.prisma, ctx.actor, input)),
  update: adminProcedure
    .input(updateUserInput)
    .mutation(({ ctx, input }) => updateUser(ctx.db.prisma, ctx.actor, input)),
});
