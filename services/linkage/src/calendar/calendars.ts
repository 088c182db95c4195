import { ContractViolationError, type ValidationIssue } from "@shenguan/contracts";
import { CalendarYearNotLoadedError, validateYearCalendar, WorkingCalendar, type YearCalendar } from "@shenguan/deadlines";
import { DomainRefusal } from "@shenguan/eventstore";
import type { SqlQueryable } from "@shenguan/eventstore";

/** A date outside every loaded year: an operator must load that year's notice; the deadline is never guessed. */
export class CalendarNotLoadedRefusal extends DomainRefusal {
  constructor(
    readonly year: number,
    date: string,
  ) {
    super(
      "calendar.year-not-loaded",
      `the working calendar for ${year} is not loaded (needed for ${date}): POST that year's 国务院办公厅 holiday notice to /calendar/years`,
    );
  }
}

/** Turns the deadlines package's error into the service's refusal (409 problem); anything else passes through. */
export function asCalendarRefusal(err: unknown): unknown {
  return err instanceof CalendarYearNotLoadedError ? new CalendarNotLoadedRefusal(err.year, err.date) : err;
}

export function isCalendarMissing(err: unknown): err is CalendarYearNotLoadedError | CalendarNotLoadedRefusal {
  return err instanceof CalendarYearNotLoadedError || err instanceof CalendarNotLoadedRefusal;
}

/** The validator's messages ("holidays[0].from: must be …") as field-level issues for a 400. */
export function calendarIssues(input: unknown): ValidationIssue[] {
  return validateYearCalendar(input).map((message) => {
    const colon = message.indexOf(":");
    return {
      path: colon > 0 ? message.slice(0, colon) : "",
      rule: "calendar",
      message: colon > 0 ? message.slice(colon + 1).trim() : message,
    };
  });
}

export interface CalendarYearRow {
  readonly year: number;
  readonly revision: number;
  readonly loadedBy: string;
  readonly loadedAt: string;
  readonly calendar: YearCalendar;
}

/** How long `compute` trusts the cached calendar without asking the database (a year replaced by another process is seen within this). */
export const CALENDAR_RECHECK_MS = 5_000;

/**
 * The working calendar as loaded in the database (table calendar_years), so
 * every process computes deadlines from the same holiday notices. The parsed
 * calendar is cached and rebuilt only when a year was added or replaced (one
 * tiny query tells). `current` asks every time; `compute` (the projection's
 * hot path) asks at most every CALENDAR_RECHECK_MS, and at once when the
 * cached calendar lacks a year (so a year loaded by another process is never
 * missed) or this process loaded one (load() drops the cache).
 */
export class Calendars {
  #cached: { key: string; calendar: WorkingCalendar; checkedAt: number } | undefined;

  constructor(private readonly recheckMs: number = CALENDAR_RECHECK_MS) {}

  /** The current calendar, read through `db` (pass the open transaction when inside one). */
  async current(db: SqlQueryable): Promise<WorkingCalendar> {
    const { rows } = await db.query<{ key: string | null }>(
      `select string_agg(year || ':' || revision, ',' order by year) as key from calendar_years`,
    );
    const key = rows[0]?.key ?? "";
    if (this.#cached?.key === key) {
      this.#cached.checkedAt = Date.now();
      return this.#cached.calendar;
    }
    const years = await db.query<{ calendar: unknown }>(`select calendar from calendar_years order by year`);
    const calendar = new WorkingCalendar(years.rows.map((r) => r.calendar));
    this.#cached = { key, calendar, checkedAt: Date.now() };
    return calendar;
  }

  /**
   * `fn` on the calendar, the cached one when checked within the last
   * CALENDAR_RECHECK_MS; if that one lacks a year `fn` needs, the database
   * is asked again and `fn` retried, so a missing year is reported only when
   * the database lacks it too.
   */
  async compute<T>(db: SqlQueryable, fn: (calendar: WorkingCalendar) => T): Promise<T> {
    const cached = this.#cached;
    if (cached && Date.now() - cached.checkedAt < this.recheckMs) {
      try {
        return fn(cached.calendar);
      } catch (err) {
        if (!isCalendarMissing(err)) throw err;
      }
    }
    return fn(await this.current(db));
  }

  /** Forgets the cached calendar: the next use reads the database. */
  invalidate(): void {
    this.#cached = undefined;
  }

  async list(db: SqlQueryable): Promise<CalendarYearRow[]> {
    const { rows } = await db.query<{ year: number; revision: number; loaded_by: string; loaded_at: Date; calendar: YearCalendar }>(
      `select year, revision, loaded_by, loaded_at, calendar from calendar_years order by year`,
    );
    return rows.map((r) => ({
      year: Number(r.year),
      revision: Number(r.revision),
      loadedBy: r.loaded_by,
      loadedAt: new Date(r.loaded_at).toISOString(),
      calendar: r.calendar,
    }));
  }

  /**
   * Loads a year after validating it (400 naming each broken field). A year
   * already loaded is refused unless `replace`: two notices for one year must
   * not disagree silently. Deadlines already computed keep their dates.
   */
  async load(db: SqlQueryable, input: unknown, by: { department: string; at: Date; replace: boolean }): Promise<CalendarYearRow> {
    const issues = calendarIssues(input);
    if (issues.length > 0) throw new ContractViolationError("calendar year", issues);
    const calendar = new WorkingCalendar([input]).yearCalendar((input as YearCalendar).year)!;
    const { rows } = await db.query<{ year: number; revision: number }>(
      `insert into calendar_years (year, calendar, loaded_by, loaded_at) values ($1, $2::jsonb, $3, $4)
       on conflict (year) do update set calendar = excluded.calendar, loaded_by = excluded.loaded_by, loaded_at = excluded.loaded_at,
         revision = calendar_years.revision + 1
         where $5::boolean
       returning year, revision`,
      [calendar.year, JSON.stringify(calendar), by.department, by.at, by.replace],
    );
    this.invalidate(); // also when the transaction rolls back: the next use just reads again
    const row = rows[0];
    if (!row)
      throw new DomainRefusal(
        "calendar.year-already-loaded",
        `the working calendar for ${calendar.year} is already loaded; send replace=true to replace it`,
        "year",
      );
    return { year: Number(row.year), revision: Number(row.revision), loadedBy: by.department, loadedAt: by.at.toISOString(), calendar };
  }
}
