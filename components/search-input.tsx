"use client";
import { useEffect, useState } from "react";

/** A search box that reports its text after a short pause, and follows `value` when it changes elsewhere (back button, shared link). */
export function SearchInput({
  value,
  onSearch,
  label,
  placeholder,
  list,
  type = "search",
}: {
  value: string;
  onSearch: (text: string) => void;
  label: string;
  placeholder?: string;
  /** Id of a <datalist> of suggestions. */
  list?: string;
  type?: "search" | "text";
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
      <input
        type={type}
        placeholder={placeholder}
        value={text}
        list={list}
        autoComplete="off"
        onChange={(e) => setText(e.target.value)}
      />
    </label>
  );
}
