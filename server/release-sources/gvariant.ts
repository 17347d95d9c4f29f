// GVariant, the serialisation of ostree's objects, read (and, for tests and
// the detached signatures, written) in the normal little-endian form. Only
// what ostree's commits and detached metadata use: basic types, strings,
// arrays, tuples, dict entries, variants and maybes. Pure; no Node imports
// beyond Buffer. Spec: https://docs.gtk.org/glib/struct.Variant.html
// ("GVariant serialisation format", Ryan Lortie's paper).

/** A parsed type: a basic letter, or a container with its parts. */
type GType =
  | { kind: "basic"; code: string }
  | { kind: "array"; element: GType }
  | { kind: "maybe"; element: GType }
  | { kind: "tuple"; members: GType[] }
  | { kind: "dict"; key: GType; value: GType }
  | { kind: "variant" };

/** A decoded value: numbers (64-bit ones as bigint), strings, booleans, arrays, Buffers (`ay`), objects (`a{s…}`), a variant as { type, value }. */
export type GValue = unknown;

export class GVariantError extends Error {}

const FIXED: Record<string, number> = { y: 1, b: 1, n: 2, q: 2, i: 4, u: 4, h: 4, x: 8, t: 8, d: 8 };

export function parseType(text: string): GType {
  let i = 0;
  const one = (): GType => {
    const c = text[i++];
    if (c === undefined) throw new GVariantError(`type ${text}: ends too soon`);
    if (c in FIXED || c === "s" || c === "o" || c === "g") return { kind: "basic", code: c };
    if (c === "v") return { kind: "variant" };
    if (c === "a") return { kind: "array", element: one() };
    if (c === "m") return { kind: "maybe", element: one() };
    if (c === "(") {
      const members: GType[] = [];
      while (text[i] !== ")") members.push(one());
      i++;
      return { kind: "tuple", members };
    }
    if (c === "{") {
      const key = one();
      const value = one();
      if (text[i++] !== "}") throw new GVariantError(`type ${text}: a dict entry has two members`);
      return { kind: "dict", key, value };
    }
    throw new GVariantError(`type ${text}: unknown type character ${c}`);
  };
  const type = one();
  if (i !== text.length) throw new GVariantError(`type ${text}: more than one type`);
  return type;
}

function alignment(t: GType): number {
  switch (t.kind) {
    case "basic":
      return FIXED[t.code] ?? 1;
    case "variant":
      return 8;
    case "array":
    case "maybe":
      return alignment(t.element);
    case "tuple":
      return t.members.reduce((a, m) => Math.max(a, alignment(m)), 1);
    case "dict":
      return Math.max(alignment(t.key), alignment(t.value));
  }
}

/** The fixed size of a type, or null when it is variable. */
function fixedSize(t: GType): number | null {
  switch (t.kind) {
    case "basic":
      return FIXED[t.code] ?? null;
    case "variant":
    case "array":
    case "maybe":
      return null;
    case "tuple":
    case "dict": {
      const members = t.kind === "tuple" ? t.members : [t.key, t.value];
      if (members.length === 0) return 1;
      let size = 0;
      for (const m of members) {
        const s = fixedSize(m);
        if (s === null) return null;
        size = align(size, alignment(m)) + s;
      }
      return align(size, alignment(t));
    }
  }
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

function offsetSize(containerSize: number): number {
  if (containerSize === 0) return 0;
  if (containerSize <= 0xff) return 1;
  if (containerSize <= 0xffff) return 2;
  if (containerSize <= 0xffffffff) return 4;
  return 8;
}

function readOffset(buf: Buffer, at: number, size: number): number {
  switch (size) {
    case 1:
      return buf.readUInt8(at);
    case 2:
      return buf.readUInt16LE(at);
    case 4:
      return buf.readUInt32LE(at);
    default:
      return Number(buf.readBigUInt64LE(at));
  }
}

function typeString(t: GType): string {
  switch (t.kind) {
    case "basic":
      return t.code;
    case "variant":
      return "v";
    case "array":
      return `a${typeString(t.element)}`;
    case "maybe":
      return `m${typeString(t.element)}`;
    case "tuple":
      return `(${t.members.map(typeString).join("")})`;
    case "dict":
      return `{${typeString(t.key)}${typeString(t.value)}}`;
  }
}

function decodeBasic(code: string, b: Buffer): GValue {
  switch (code) {
    case "y":
      return b.readUInt8(0);
    case "b":
      return b.readUInt8(0) !== 0;
    case "n":
      return b.readInt16LE(0);
    case "q":
      return b.readUInt16LE(0);
    case "i":
    case "h":
      return b.readInt32LE(0);
    case "u":
      return b.readUInt32LE(0);
    case "x":
      return b.readBigInt64LE(0);
    case "t":
      return b.readBigUInt64LE(0);
    case "d":
      return b.readDoubleLE(0);
    default: {
      // s, o, g: NUL-terminated UTF-8
      const end = b.length > 0 && b[b.length - 1] === 0 ? b.length - 1 : b.length;
      return b.subarray(0, end).toString("utf8");
    }
  }
}

/** Decodes `data` as a value of type `type` (a GVariant type string). */
export function decode(type: string, data: Buffer): GValue {
  return decodeType(parseType(type), data);
}

function decodeType(t: GType, b: Buffer): GValue {
  switch (t.kind) {
    case "basic": {
      const size = FIXED[t.code];
      if (size !== undefined && b.length !== size) return decodeBasic(t.code, Buffer.alloc(size));
      return decodeBasic(t.code, b);
    }
    case "variant": {
      const zero = b.lastIndexOf(0);
      if (zero < 0) return null;
      const inner = b.subarray(zero + 1).toString("ascii");
      return { type: inner, value: decodeType(parseType(inner), b.subarray(0, zero)) };
    }
    case "maybe": {
      if (b.length === 0) return null;
      return fixedSize(t.element) === null ? decodeType(t.element, b.subarray(0, b.length - 1)) : decodeType(t.element, b);
    }
    case "array":
      return decodeArray(t, b);
    case "tuple":
    case "dict":
      return decodeTuple(t.kind === "tuple" ? t.members : [t.key, t.value], b);
  }
}

function decodeArray(t: { element: GType }, b: Buffer): GValue {
  const element = t.element;
  const size = fixedSize(element);
  let items: Buffer[] = [];
  if (b.length === 0) items = [];
  else if (size !== null) {
    if (element.kind === "basic" && element.code === "y") return Buffer.from(b);
    for (let at = 0; at + size <= b.length; at += size) items.push(b.subarray(at, at + size));
  } else {
    const os = offsetSize(b.length);
    const lastEnd = readOffset(b, b.length - os, os);
    if (lastEnd > b.length) throw new GVariantError("array: framing offset out of range");
    const count = (b.length - lastEnd) / os;
    let start = 0;
    for (let k = 0; k < count; k++) {
      const end = readOffset(b, lastEnd + k * os, os);
      start = align(start, alignment(element));
      items.push(b.subarray(start, end));
      start = end;
    }
  }
  if (element.kind === "basic" && element.code === "y") return Buffer.concat(items);
  const values = items.map((item) => decodeType(element, item));
  // a{s…}: an object, as ostree's metadata dictionaries read best.
  if (element.kind === "dict" && element.key.kind === "basic" && element.key.code === "s") {
    return Object.fromEntries(values as [string, GValue][]);
  }
  return values;
}

function decodeTuple(members: GType[], b: Buffer): GValue[] {
  const os = offsetSize(b.length);
  let offsetsUsed = 0;
  let start = 0;
  const values: GValue[] = [];
  members.forEach((m, index) => {
    start = align(start, alignment(m));
    const size = fixedSize(m);
    let end: number;
    if (size !== null) end = start + size;
    else if (index === members.length - 1) end = b.length - offsetsUsed * os;
    else {
      offsetsUsed++;
      end = readOffset(b, b.length - offsetsUsed * os, os);
    }
    if (end > b.length || end < start) throw new GVariantError("tuple: member out of range");
    values.push(decodeType(m, b.subarray(start, end)));
    start = end;
  });
  return values;
}

// ---------------------------------------------------------------- writing

/** Encodes `value` as type `type`: the inverse of decode (objects for a{s…}, Buffers for ay, { type, value } for v). */
export function encode(type: string, value: GValue): Buffer {
  return encodeType(parseType(type), value);
}

function encodeBasic(code: string, v: GValue): Buffer {
  const size = FIXED[code];
  if (size !== undefined) {
    const b = Buffer.alloc(size);
    switch (code) {
      case "y":
        b.writeUInt8(Number(v));
        break;
      case "b":
        b.writeUInt8(v ? 1 : 0);
        break;
      case "n":
        b.writeInt16LE(Number(v));
        break;
      case "q":
        b.writeUInt16LE(Number(v));
        break;
      case "i":
      case "h":
        b.writeInt32LE(Number(v));
        break;
      case "u":
        b.writeUInt32LE(Number(v));
        break;
      case "x":
        b.writeBigInt64LE(BigInt(v as number | bigint));
        break;
      case "t":
        b.writeBigUInt64LE(BigInt(v as number | bigint));
        break;
      case "d":
        b.writeDoubleLE(Number(v));
        break;
    }
    return b;
  }
  return Buffer.concat([Buffer.from(String(v), "utf8"), Buffer.from([0])]);
}

function writeOffsets(offsets: number[], size: number): Buffer {
  const b = Buffer.alloc(offsets.length * size);
  offsets.forEach((o, k) => {
    if (size === 1) b.writeUInt8(o, k);
    else if (size === 2) b.writeUInt16LE(o, k * 2);
    else if (size === 4) b.writeUInt32LE(o, k * 4);
    else b.writeBigUInt64LE(BigInt(o), k * 8);
  });
  return b;
}

/** The smallest offset size that frames `body` with `count` offsets. */
function framed(body: Buffer, offsets: number[]): Buffer {
  if (offsets.length === 0) return body;
  for (const size of [1, 2, 4, 8]) {
    const total = body.length + offsets.length * size;
    if (offsetSize(total) === size) return Buffer.concat([body, writeOffsets(offsets, size)]);
  }
  throw new GVariantError("too large");
}

function pad(parts: Buffer[], length: number, to: number): number {
  const aligned = align(length, to);
  if (aligned > length) parts.push(Buffer.alloc(aligned - length));
  return aligned;
}

function encodeType(t: GType, v: GValue): Buffer {
  switch (t.kind) {
    case "basic":
      return encodeBasic(t.code, v);
    case "variant": {
      const { type, value } = v as { type: string; value: GValue };
      return Buffer.concat([encodeType(parseType(type), value), Buffer.from([0]), Buffer.from(type, "ascii")]);
    }
    case "maybe": {
      if (v === null || v === undefined) return Buffer.alloc(0);
      const inner = encodeType(t.element, v);
      return fixedSize(t.element) === null ? Buffer.concat([inner, Buffer.from([0])]) : inner;
    }
    case "array": {
      let items: GValue[];
      if (Buffer.isBuffer(v)) items = [...v];
      else if (Array.isArray(v)) items = v;
      else items = Object.entries(v as Record<string, GValue>);
      const parts: Buffer[] = [];
      let length = 0;
      const ends: number[] = [];
      const variable = fixedSize(t.element) === null;
      for (const item of items) {
        length = pad(parts, length, alignment(t.element));
        const b = encodeType(t.element, item);
        parts.push(b);
        length += b.length;
        ends.push(length);
      }
      const body = Buffer.concat(parts);
      return variable ? framed(body, ends) : body;
    }
    case "tuple":
    case "dict": {
      const members = t.kind === "tuple" ? t.members : [t.key, t.value];
      const values = v as GValue[];
      const parts: Buffer[] = [];
      let length = 0;
      const ends: number[] = [];
      members.forEach((m, index) => {
        length = pad(parts, length, alignment(m));
        const b = encodeType(m, values[index]);
        parts.push(b);
        length += b.length;
        if (fixedSize(m) === null && index !== members.length - 1) ends.push(length);
      });
      const size = fixedSize(t);
      if (size !== null) {
        pad(parts, length, alignment(t));
        const body = Buffer.concat(parts);
        return body.length === 0 ? Buffer.alloc(1) : body;
      }
      return framed(Buffer.concat(parts), ends.reverse());
    }
  }
}

export { typeString as gvariantTypeString };
