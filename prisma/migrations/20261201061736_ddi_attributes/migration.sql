-- AlterTable
ALTER TABLE "machines" ADD COLUMN     "ddi_attributes_at" TIMESTAMPTZ(3);

