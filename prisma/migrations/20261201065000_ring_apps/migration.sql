-- AlterEnum
ALTER TYPE "MachineChangeKind" ADD VALUE 'app';

-- AlterTable
ALTER TABLE "rings" ADD COLUMN     "apps_managed" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "machines" ADD COLUMN     "apps_hash" TEXT,
ADD COLUMN     "apps_seq" BIGINT NOT NULL DEFAULT -1;

-- CreateTable
CREATE TABLE "ring_apps" (
    "id" TEXT NOT NULL,
    "ring_id" TEXT NOT NULL,
    "ref" TEXT NOT NULL,
    "remote_name" TEXT NOT NULL,
    "remote_url" TEXT NOT NULL,
    "remote_gpg_key" TEXT,
    "release_id" TEXT NOT NULL,
    "allow_downgrade" BOOLEAN NOT NULL DEFAULT false,
    "position" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "ring_apps_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "machine_apps" (
    "machine_id" TEXT NOT NULL,
    "ref" TEXT NOT NULL,
    "commit" TEXT,
    "origin" TEXT,
    "managed" BOOLEAN NOT NULL DEFAULT false,
    "update_state" TEXT,
    "update_target" TEXT,
    "update_error" TEXT,
    "health_status" TEXT,
    "health_checks" JSONB NOT NULL DEFAULT '[]',
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "machine_apps_pkey" PRIMARY KEY ("machine_id","ref")
);

-- CreateTable
CREATE TABLE "machine_app_pins" (
    "machine_id" TEXT NOT NULL,
    "ref" TEXT NOT NULL,
    "release_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "machine_app_pins_pkey" PRIMARY KEY ("machine_id","ref")
);

-- CreateIndex
CREATE INDEX "ring_apps_release_id_idx" ON "ring_apps"("release_id");

-- CreateIndex
CREATE UNIQUE INDEX "ring_apps_ring_id_ref_key" ON "ring_apps"("ring_id", "ref");

-- CreateIndex
CREATE INDEX "machine_apps_ref_commit_idx" ON "machine_apps"("ref", "commit");

-- CreateIndex
CREATE INDEX "machine_app_pins_release_id_idx" ON "machine_app_pins"("release_id");

-- AddForeignKey
ALTER TABLE "ring_apps" ADD CONSTRAINT "ring_apps_ring_id_fkey" FOREIGN KEY ("ring_id") REFERENCES "rings"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ring_apps" ADD CONSTRAINT "ring_apps_release_id_fkey" FOREIGN KEY ("release_id") REFERENCES "releases"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "machine_apps" ADD CONSTRAINT "machine_apps_machine_id_fkey" FOREIGN KEY ("machine_id") REFERENCES "machines"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "machine_app_pins" ADD CONSTRAINT "machine_app_pins_machine_id_fkey" FOREIGN KEY ("machine_id") REFERENCES "machines"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "machine_app_pins" ADD CONSTRAINT "machine_app_pins_release_id_fkey" FOREIGN KEY ("release_id") REFERENCES "releases"("id") ON DELETE RESTRICT ON UPDATE CASCADE;


-- Caches (see migration cache_notifications): a ring's app set is part of its
-- view, an app pin part of its machine's.
CREATE FUNCTION "orchard_cache_ring_app"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('orchard_cache', 'ring:' || OLD.ring_id);
  ELSE
    PERFORM pg_notify('orchard_cache', 'ring:' || NEW.ring_id);
    IF TG_OP = 'UPDATE' AND OLD.ring_id <> NEW.ring_id THEN
      PERFORM pg_notify('orchard_cache', 'ring:' || OLD.ring_id);
    END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "orchard_cache_ring_app_change" AFTER INSERT OR UPDATE OR DELETE ON "ring_apps" FOR EACH ROW
  EXECUTE FUNCTION "orchard_cache_ring_app"();

CREATE TRIGGER "orchard_cache_ring_apps_managed" AFTER UPDATE ON "rings" FOR EACH ROW
  WHEN (OLD.apps_managed IS DISTINCT FROM NEW.apps_managed)
  EXECUTE FUNCTION "orchard_cache_ring"();

CREATE FUNCTION "orchard_cache_machine_app_pin"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('orchard_cache', 'machine:' || OLD.machine_id);
  ELSE
    PERFORM pg_notify('orchard_cache', 'machine:' || NEW.machine_id);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "orchard_cache_machine_app_pin_change" AFTER INSERT OR UPDATE OR DELETE ON "machine_app_pins" FOR EACH ROW
  EXECUTE FUNCTION "orchard_cache_machine_app_pin"();
