import {
  addDays,
  addMonthsClamped,
  isLocalDate,
  isWeekend,
  yearOf,
  type LocalDate,
} from "./local-date.js";
import { parseYearCalendar, type YearCalendar } from "./year-calendar.js";

/**
 * Raised for any date in a year whose holiday notice has not been loaded.
 * Guessing "Mon–Fri" for such a year would silently put deadlines on
 * holidays, so the caller must load the calendar instead.
 */
export class CalendarYearNotLoadedError extends Error {
  override readonly name = "CalendarYearNotLoadedError";
  constructor(
    readonly year: number,
    readonly date: string,
  ) {
    super(
      `working calendar for ${year} is not loaded (needed for ${date}); load that year's 国务院办公厅 holiday notice`,
    );
  }
}

export class CalendarYearAlreadyLoadedError extends Error {
  override readonly name = "CalendarYearAlreadyLoadedError";
  constructor(readonly year: number) {
    super(
      `working calendar for ${year} is already loaded; pass { replace: true } to replace it`,
    );
  }
}

export interface RollOptions {
  /**
   * When the last day of a calendar-day or month period is not a working day,
   * move it to the next working day (e.g. 民法典 §203: 期间的最后一日是法定休假日的，
   * 以法定休假日结束的次日为期间的最后一日). Default false: the domain doc states the
   * 60(+20)-day and 5-day periods and the 3-month limit as plain calendar
   * arithmetic; turn this on where the governing rule says to extend.
   * A make-up Saturday counts as a working day, so a roll stops there.
   */
  readonly rollToWorkingDay?: boolean;
}

interface LoadedYear {
  readonly calendar: YearCalendar;
  readonly holidays: ReadonlySet<string>;
  readonly makeUpWorkdays: ReadonlySet<string>;
}

function checkDate(param: string, value: string): LocalDate {
  if (!isLocalDate(value))
    throw new RangeError(
      `${param}: not a real date in YYYY-MM-DD form: ${JSON.stringify(value)}`,
    );
  return value;
}

function checkCount(param: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`${param}: must be a non-negative integer, got ${n}`);
}

/**
 * Working days for the loaded years: Monday–Friday, minus statutory holidays,
 * plus weekend days declared make-up workdays (调休上班). Every date the
 * calendar reads or returns must lie in a loaded year, otherwise it throws
 * CalendarYearNotLoadedError, even for plain calendar-day arithmetic, so a
 * deadline is never computed against a year nobody has vouched for.
 */
export class WorkingCalendar {
  readonly #years = new Map<number, LoadedYear>();

  /** Accepts unvalidated data (e.g. parsed JSON); each year is validated as by load(). */
  constructor(calendars: Iterable<unknown> = []) {
    for (const c of calendars) this.load(c);
  }

  /**
   * Validates and loads one year. Reloading a year throws unless
   * `replace: true`, so two config sources cannot silently disagree; a
   * replace is legitimate when a later notice moves a day (e.g. the next
   * year's 元旦 starts on 12-31).
   */
  load(
    input: unknown,
    options: { readonly replace?: boolean } = {},
  ): YearCalendar {
    const calendar = parseYearCalendar(input);
    if (this.#years.has(calendar.year) && options.replace !== true) {
      throw new CalendarYearAlreadyLoadedError(calendar.year);
    }
    const holidays = new Set<string>();
    for (const h of calendar.holidays) {
      for (let d = h.from as LocalDate; d <= h.to; d = addDays(d, 1))
        holidays.add(d);
    }
    const makeUpWorkdays = new Set(calendar.makeUpWorkdays.map((w) => w.date));
    this.#years.set(calendar.year, { calendar, holidays, makeUpWorkdays });
    return calendar;
  }

  /** Loaded years, ascending. */
  get years(): readonly number[] {
    return [...this.#years.keys()].sort((a, b) => a - b);
  }

  yearCalendar(year: number): YearCalendar | undefined {
    return this.#years.get(year)?.calendar;
  }

  #year(date: LocalDate): LoadedYear {
    const year = yearOf(date);
    const loaded = this.#years.get(year);
    if (!loaded) throw new CalendarYearNotLoadedError(year, date);
    return loaded;
  }

  isWorkingDay(date: LocalDate): boolean {
    const y = this.#year(checkDate("date", date));
    if (y.makeUpWorkdays.has(date)) return true;
    if (y.holidays.has(date)) return false;
    return !isWeekend(date);
  }

  /**
   * The n-th working day after `start` (行政许可法 §82: the start day is not
   * counted). `start` itself need not be a working day; n = 0 returns start.
   */
  addWorkingDays(start: LocalDate, n: number): LocalDate {
    this.#year(checkDate("start", start));
    checkCount("n", n);
    let d = start;
    for (let left = n; left > 0;) {
      d = addDays(d, 1);
      if (this.isWorkingDay(d)) left--;
    }
    return d;
  }

  /**
   * `start` + n calendar days (start day not counted), optionally rolled to a
   * working day. Without the roll this is plain date arithmetic that no
   * holiday notice can change, so it needs no loaded year (a 3-month limit
   * started in November must not wait for next year's notice).
   */
  addCalendarDays(
    start: LocalDate,
    n: number,
    options: RollOptions = {},
  ): LocalDate {
    checkDate("start", start);
    checkCount("n", n);
    return this.#finish(addDays(start, n), options);
  }

  /** Same day-of-month n months after `start`, clamped to the month's last day, optionally rolled. */
  addMonths(start: LocalDate, n: number, options: RollOptions = {}): LocalDate {
    checkDate("start", start);
    checkCount("n", n);
    return this.#finish(addMonthsClamped(start, n), options);
  }

  /** `date` if it is a working day, else the first working day after it. */
  onOrNextWorkingDay(date: LocalDate): LocalDate {
    let d = checkDate("date", date);
    while (!this.isWorkingDay(d)) d = addDays(d, 1);
    return d;
  }

  #finish(end: LocalDate, options: RollOptions): LocalDate {
    return options.rollToWorkingDay === true ? this.onOrNextWorkingDay(end) : end;
  }

  /**
   * Working days d with a < d <= b: how many working days of a limit started
   * on `a` have elapsed by the end of `b`. Negative (the same count, negated)
   * when b is before a.
   */
  workingDaysBetween(a: LocalDate, b: LocalDate): number {
    checkDate("a", a);
    checkDate("b", b);
    if (b < a) return -this.workingDaysBetween(b, a);
    this.#year(a);
    let count = 0;
    // Fixed-width ISO strings compare chronologically.
    for (let d = addDays(a, 1); d <= b; d = addDays(d, 1)) {
      if (this.isWorkingDay(d)) count++;
    }
    return count;
  }
}
