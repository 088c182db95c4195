import type { Limit as ContractLimit, LimitUnit as ContractLimitUnit } from "@shenguan/contracts";
import {
  addDays,
  cardDates,
  daysBetween,
  dueDate,
  localDate,
  type CardDates,
  type Limit,
  type LimitUnit,
  type LocalDate,
  type WorkingCalendar,
} from "@shenguan/deadlines";

const toDeadlinesUnit: Record<ContractLimitUnit, LimitUnit> = {
  WORKING_DAYS: "working-days",
  CALENDAR_DAYS: "calendar-days",
  MONTHS: "months",
};

/** The contract's limit (WORKING_DAYS …) as the deadlines package counts it (working-days …). */
export function limitOf(limit: ContractLimit): Limit {
  return { amount: limit.amount, unit: toDeadlinesUnit[limit.unit] };
}

/** The last day of `limit` counted from `start` (start day not counted). Throws CalendarYearNotLoadedError outside the loaded years. */
export function dueOf(calendar: WorkingCalendar, start: string, limit: ContractLimit): LocalDate {
  return dueDate(calendar, localDate(start), limitOf(limit));
}

/** A limit that ends on a given day: calendar days from start to due (at least 1), e.g. a rectification's due date or an extended decision. */
export function calendarDaysUntil(start: string, due: string): ContractLimit {
  return { amount: Math.max(1, daysBetween(localDate(start), localDate(due))), unit: "CALENDAR_DAYS" };
}

/**
 * Yellow and red card dates of a deadline. When the due date is fixed by an
 * event (the claimDue a push announced, say), that date wins: red the day
 * after it, and yellow never later than it.
 */
export function deadlineCards(
  calendar: WorkingCalendar,
  input: { readonly start: string; readonly limit: ContractLimit; readonly fixedDue?: string | null },
  yellowShare: number,
): CardDates {
  const cards = cardDates(calendar, { start: localDate(input.start), limit: limitOf(input.limit), yellowShare });
  if (!input.fixedDue || input.fixedDue === cards.due) return cards;
  const due = localDate(input.fixedDue);
  return { due, yellowFrom: cards.yellowFrom < due ? cards.yellowFrom : due, redFrom: addDays(due, 1) };
}

/** The whole number of months (1–120) from start to due by month arithmetic, if there is one. */
export function monthsBetween(start: string, due: string): number | undefined {
  const [y, mo, d] = localDate(start).split("-").map(Number) as [number, number, number];
  for (let m = 1; m <= 120; m++) {
    const index = y * 12 + (mo - 1) + m;
    const [ty, tm] = [Math.floor(index / 12), (index % 12) + 1];
    const td = Math.min(d, new Date(Date.UTC(ty, tm, 0)).getUTCDate()); // clamped like the deadlines package: no 31 February
    const end = `${ty}-${String(tm).padStart(2, "0")}-${String(td).padStart(2, "0")}`;
    if (end === due) return m;
    if (end > due) return undefined;
  }
  return undefined;
}
