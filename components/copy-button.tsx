"use client";
import { useEffect, useState } from "react";

/** Copies `value` to the clipboard and says so; falls back to a prompt where the clipboard API is unavailable (plain HTTP). */
export function CopyButton({ value, label = "Copy", compact = false }: { value: string; label?: string; compact?: boolean }) {
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);
  useEffect(() => {
    if (!copied) return;
    const timer = setTimeout(() => setCopied(null), 2000);
    return () => clearTimeout(timer);
  }, [copied]);

  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
      setCopied("yes");
    } catch {
      // No clipboard access (insecure context or denied): let the user copy by hand.
      window.prompt("Copy this value:", value);
      setCopied("no");
    }
  }

  const text = copied === "yes" ? "Copied" : label;
  return (
    <button
      type="button"
      className={compact ? "copy-button compact" : "copy-button"}
      onClick={() => void copy()}
      aria-label={compact ? label : undefined}
      title={compact ? label : undefined}
    >
      {compact ? copied === "yes" ? <span aria-hidden="true">✓</span> : <CopyIcon /> : text}
      <span className="sr-only" aria-live="polite">
        {copied === "yes" ? "Copied to the clipboard" : ""}
      </span>
    </button>
  );
}

function CopyIcon() {
  return (
    <svg width="13" height="13" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
      <rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
      <path d="M11 3.5V3a1.5 1.5 0 0 0-1.5-1.5h-6A1.5 1.5 0 0 0 2 3v6.5A1.5 1.5 0 0 0 3.5 11H4" fill="none" stroke="currentColor" strokeWidth="1.5" />
    </svg>
  );
}
