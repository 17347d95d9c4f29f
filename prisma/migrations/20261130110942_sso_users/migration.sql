-- AlterTable
ALTER TABLE "users" ADD COLUMN     "sso_issuer" TEXT,
ADD COLUMN     "sso_subject" TEXT,
ALTER COLUMN "password_hash" DROP NOT NULL;

-- CreateIndex
CREATE UNIQUE INDEX "users_sso_issuer_sso_subject_key" ON "users"("sso_issuer", "sso_subject");


-- A user signs in somehow: with a password, or through single sign-on (issuer and subject together).
ALTER TABLE "users" ADD CONSTRAINT "users_signs_in_somehow" CHECK ("password_hash" IS NOT NULL OR "sso_subject" IS NOT NULL);
ALTER TABLE "users" ADD CONSTRAINT "users_sso_issuer_and_subject" CHECK (("sso_issuer" IS NULL) = ("sso_subject" IS NULL));
