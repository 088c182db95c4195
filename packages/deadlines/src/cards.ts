/**
 * Yellow/red cards (黄牌/红牌) for a running limit.
 *
 * Rules, stated once so timers and dashboards agree:
 * - red from the day AFTER the due date: the due date itself is still within
 *   the limit, so red ⇔ today > due.
 * - yellow from the first day on which elapsed / total >= yellowShare, where
 *   elapsed counts units after the start day up to and including today:
 *     working-days: elapsed = working days after start, total = limit.amount;
 *       yellowFrom is therefore a working day.
 *     calendar-days: elapsed = calendar days after start, total = limit.amount.
 *     months: months differ in length, so the share is taken in calendar days
 *       of the span start → (unrolled) due date.
 *   rollToWorkingDay moves only the due/red dates, never yellowFrom.
 * - green before yellowFrom.
 * Status is derived from the dates, so a status read and a scheduled timer
 * cannot disagree.
 */
import type { RollOptions, WorkingCalendar } from "./calendar.js";
import { addDays, daysBetween, type LocalDate } from "./local-date.js";
import { checkLimit, dueDate, type Limit } from "./limit.js";

export type CardColour = "green" | "yellow" | "red";

export interface CardInput extends RollOptions {
  readonly start: LocalDate;
  readonly limit: Limit;
  /** Share of the limit after which the card turns yellow, 0 < share <= 1 (e.g. 0.8). */
  readonly yellowShare: number;
}

export interface CardDates {
  /** Last day within the limit. */
  readonly due: LocalDate;
  /** First yellow day. */
  readonly yellowFrom: LocalDate;
  /** First red day: due + 1 calendar day. */
  readonly redFrom: LocalDate;
}

export interface CardStatus extends CardDates {
  readonly status: CardColour;
}

/** Smallest k with k / total >= share, evaluated as the status rule reads (no rounding surprises like ceil(0.7 * 10) = 8). */
function yellowThreshold(total: number, share: number): number {
  let k = 1;
  while (k < total && k / total < share) k++;
  return k;
}

export function cardDates(
  calendar: WorkingCalendar,
  input: CardInput,
): CardDates {
  const { start, limit, yellowShare } = input;
  checkLimit(limit);
  if (!(yellowShare > 0 && yellowShare <= 1)) {
    throw new RangeError(
      `yellowShare: must be > 0 and <= 1, got ${yellowShare}`,
    );
  }
  const due = dueDate(calendar, start, limit, input);
  let yellowFrom: LocalDate;
  if (limit.unit === "working-days") {
    yellowFrom = calendar.addWorkingDays(
      start,
      yellowThreshold(limit.amount, yellowShare),
    );
  } else {
    const end =
      limit.unit === "months"
        ? calendar.addMonths(start, limit.amount)
        : calendar.addCalendarDays(start, limit.amount);
    yellowFrom = addDays(
      start,
      yellowThreshold(daysBetween(start, end), yellowShare),
    );
  }
  return { due, yellowFrom, redFrom: addDays(due, 1) };
}

export function cardStatus(
  calendar: WorkingCalendar,
  input: CardInput & { readonly today: LocalDate },
): CardStatus {
  const dates = cardDates(calendar, input);
  const status: CardColour =
    input.today >= dates.redFrom
      ? "red"
      : input.today >= dates.yellowFrom
        ? "yellow"
        : "green";
  return { status, ...dates };
}
