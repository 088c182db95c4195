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
 * The last answer per zone, by UTC second. Time-zone offsets have at most
 * second precision, so one UTC second never straddles a local midnight;
 * and a burst of events (linkage computes a deadline per handoff) mostly
 * falls in one second, where formatToParts costs more than all the day
 * arithmetic after it.
 */
const lastLocalDate = new Map<string, { readonly second: number; readonly date: LocalDate }>();

/**
 * The local calendar date of an instant in a time zone (default Beijing
 * time). Events carry instants; limits start on the local date, e.g.
 * 2026-09-28T17:00:00Z is already 2026-09-29 in Shanghai.
 */
export function localDateOf(instant: Date, tz = "Asia/Shanghai"): LocalDate {
  const ms = instant.getTime();
  if (Number.isNaN(ms)) throw new RangeError("localDateOf: invalid Date");
  const second = Math.floor(ms / 1000);
  const last = lastLocalDate.get(tz);
  if (last !== undefined && last.second === second) return last.date;
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
  const date = localDate(
    `${part("year").padStart(4, "0")}-${part("month")}-${part("day")}`,
  );
  lastLocalDate.set(tz, { second, date });
  return date;
}

export function yearOf(date: LocalDate): number {
  return Number(date.slice(0, 4));
}

// Day numbers by Howard Hinnant's days_from_civil / civil_from_days
// (proleptic Gregorian, exact for every year): working-day counting calls
// these for every day it steps over, and a Date object and a regex per call
// were a visible share of the linkage consumer's thread.
const digit = (s: string, i: number) => s.charCodeAt(i) - 48;

/** Days since 1970-01-01; plain integers make day arithmetic exact. */
export function toDayNumber(date: LocalDate): number {
  let y = digit(date, 0) * 1000 + digit(date, 1) * 100 + digit(date, 2) * 10 + digit(date, 3);
  const m = digit(date, 5) * 10 + digit(date, 6);
  const d = digit(date, 8) * 10 + digit(date, 9);
  if (m <= 2) y -= 1;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

export function fromDayNumber(day: number): LocalDate {
  const z = day + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const d = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yearOfEra + era * 400 + (m <= 2 ? 1 : 0);
  const text = `${String(y).padStart(4, "0")}-${pad2(m)}-${pad2(d)}`;
  // Always a real date; only a year outside 0000–9999 fails the shape (and is refused, as before).
  if (y < 0 || y > 9999) return localDate(text);
  return text as LocalDate;
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
