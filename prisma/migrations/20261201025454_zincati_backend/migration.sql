-- AlterEnum
ALTER TYPE "Backend" ADD VALUE 'zincati';

