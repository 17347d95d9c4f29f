-- AlterEnum
ALTER TYPE "Backend" ADD VALUE 'swupdate';

