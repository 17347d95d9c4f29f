/** The agent's version, reported at enrollment and in every check-in. */
export const AGENT_VERSION = "0.1.0";
