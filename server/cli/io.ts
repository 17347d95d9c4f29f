// Small terminal helpers of the command line.

/** Reads a secret piped on stdin (trailing newline removed); null when stdin is a terminal or empty. */
export async function readStdinSecret(idleMs = 2000): Promise<string | null> {
  if (process.stdin.isTTY) return null;
  return new Promise((resolve) => {
    let text = "";
    const finish = () => {
      clearTimeout(timer);
      process.stdin.pause();
      const value = text.replace(/\r?\n$/, "");
      resolve(value.length > 0 ? value : null);
    };
    let timer = setTimeout(finish, idleMs);
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk: string) => {
      text += chunk;
      clearTimeout(timer);
      timer = setTimeout(finish, idleMs);
    });
    process.stdin.once("end", finish);
    process.stdin.once("error", finish);
  });
}

export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}
