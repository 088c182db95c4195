/**
 * Calendar dates as 'YYYY-MM-DD' strings in China local time.
 *
 * Statutory limits are counted in whole days of the local calendar, so a
 * date-without-time is the honest type: using a Date would drag in a time
 * of day and a zone that every comparison would have to strip again. The
 * brand marks a string that has been checked to be a real date.
 */
declare const localDateBrand: unique symbol;
export type LocalDate = string & { readonly [localDateBrand]: true };

const DAY_MS = 86_400_000;
const SHAPE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isLocalDate(value: unknown): value is LocalDate {
  if (typeof value !== "string") return false;
  const m = SHAPE.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return false;
  return d <= daysInMonth(y, mo);
}

/** Checks and brands a 'YYYY-MM-DD' string; throws RangeError naming the value otherwise. */
export function localDate(value: string): LocalDate {
  if (!isLocalDate(value)) {
    throw new RangeError(
      `not a real calendar date in YYYY-MM-DD form: ${JSON.stringify(value)}`,
    );
  }
  return value;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * The local calendar date of an instant in a time zone (default Beijing
 * time). Events carry instants; limits start on the local date, e.g.
 * 2026-09-28T17:00:00Z is already 2026-09-29 in Shanghai.
 */
export function localDateOf(instant: Date, tz = "Asia/Shanghai"): LocalDate {
  if (Number.isNaN(instant.getTime()))
    throw new RangeError("localDateOf: invalid Date");
  let fmt = formatters.get(tz);
  if (!fmt) {
    // en-CA alone would do, but reading parts does not depend on a locale's pattern.
    fmt = new Intl.DateTimeFormat("en-CA", {
      timeZone: tz,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    });
    formatters.set(tz, fmt);
  }
  const parts = fmt.formatToParts(instant);
  const part = (type: string) =>
    parts.find((p) => p.type === type)?.value ?? "";
  return localDate(
    `${part("year").padStart(4, "0")}-${part("month")}-${part("day")}`,
  );
}

export function yearOf(date: LocalDate): number {
  return Number(date.slice(0, 4));
}

/** Days since 1970-01-01; plain integers make day arithmetic exact. */
export function toDayNumber(date: LocalDate): number {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  const t = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not remap years 0–99 to 1900–1999.
  t.setUTCFullYear(y, m - 1, d);
  return Math.round(t.getTime() / DAY_MS);
}

export function fromDayNumber(day: number): LocalDate {
  const t = new Date(day * DAY_MS);
  const y = String(t.getUTCFullYear()).padStart(4, "0");
  const m = String(t.getUTCMonth() + 1).padStart(2, "0");
  const d = String(t.getUTCDate()).padStart(2, "0");
  return localDate(`${y}-${m}-${d}`);
}

export function addDays(date: LocalDate, n: number): LocalDate {
  return fromDayNumber(toDayNumber(date) + n);
}

/** Calendar days from a to b (negative when b is earlier). */
export function daysBetween(a: LocalDate, b: LocalDate): number {
  return toDayNumber(b) - toDayNumber(a);
}

/** 0 = Sunday … 6 = Saturday, as Date#getUTCDay. */
export function dayOfWeek(date: LocalDate): number {
  // 1970-01-01 was a Thursday (4).
  return (((toDayNumber(date) + 4) % 7) + 7) % 7;
}

export function isWeekend(date: LocalDate): boolean {
  const w = dayOfWeek(date);
  return w === 0 || w === 6;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Same day-of-month n months later, clamped to that month's last day
 * (2026-01-31 + 1 month = 2026-02-28): a month limit has no 31st in February.
 */
export function addMonthsClamped(date: LocalDate, n: number): LocalDate {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  const index = y * 12 + (m - 1) + n;
  const ty = Math.floor(index / 12);
  const tm = (index % 12) + 1;
  const td = Math.min(d, daysInMonth(ty, tm));
  return localDate(
    `${String(ty).padStart(4, "0")}-${String(tm).padStart(2, "0")}-${String(td).padStart(2, "0")}`,
  );
}
