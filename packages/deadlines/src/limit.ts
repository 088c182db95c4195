import type { RollOptions, WorkingCalendar } from "./calendar.js";
import type { LocalDate } from "./local-date.js";

/**
 * A statutory time limit. The unit is mandatory because the same number
 * means different things: 5 工作日 (claim limit) vs 5 日 (statement period).
 */
export interface Limit {
  readonly amount: number;
  readonly unit: LimitUnit;
}

export type LimitUnit = "working-days" | "calendar-days" | "months";

export function checkLimit(limit: Limit): void {
  if (!Number.isSafeInteger(limit.amount) || limit.amount < 1) {
    throw new RangeError(
      `limit.amount: must be a positive integer, got ${limit.amount}`,
    );
  }
  const unit: string = limit.unit;
  if (
    unit !== "working-days" &&
    unit !== "calendar-days" &&
    unit !== "months"
  ) {
    throw new RangeError(
      `limit.unit: must be working-days, calendar-days or months, got ${JSON.stringify(unit)}`,
    );
  }
}

/**
 * The last day of the limit (the act is on time if done on or before it).
 * The start day is not counted. `rollToWorkingDay` affects calendar-day and
 * month limits only: a working-day limit always ends on a working day.
 */
export function dueDate(
  calendar: WorkingCalendar,
  start: LocalDate,
  limit: Limit,
  options: RollOptions = {},
): LocalDate {
  checkLimit(limit);
  switch (limit.unit) {
    case "working-days":
      return calendar.addWorkingDays(start, limit.amount);
    case "calendar-days":
      return calendar.addCalendarDays(start, limit.amount, options);
    case "months":
      return calendar.addMonths(start, limit.amount, options);
  }
}
