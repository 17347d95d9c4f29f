"use client";
import { useEffect, useState } from "react";

/** A search box that reports its text after a short pause, and follows `value` when it changes elsewhere (back button, shared link). */
export function SearchInput({
  value,
  onSearch,
  label,
  placeholder,
}: {
  value: string;
  onSearch: (text: string) => void;
  label: string;
  placeholder?: string;
}) {
  const [text, setText] = useState(value);
  const [seen, setSeen] = useState(value);
  if (value !== seen) {
    setSeen(value);
    setText(value);
  }
  useEffect(() => {
    if (text === value) return;
    const timer = setTimeout(() => onSearch(text), 300);
    return () => clearTimeout(timer);
  }, [text, value, onSearch]);
  return (
    <label>
      {label}
      <input type="search" placeholder={placeholder} value={text} onChange={(e) => setText(e.target.value)} />
    </label>
  );
}
