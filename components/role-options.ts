// The roles as forms offer them, with what each may do.
import type { Role } from "@/server/vocabulary";

export const ROLE_OPTIONS: { value: Role; label: string; hint: string }[] = [
  { value: "viewer", label: "Viewer", hint: "reads everything, changes nothing" },
  { value: "operator", label: "Operator", hint: "acts on the fleet: rings, releases, machines" },
  { value: "admin", label: "Admin", hint: "also manages users and tokens" },
];
