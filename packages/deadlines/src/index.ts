export {
  type LocalDate,
  localDate,
  isLocalDate,
  localDateOf,
  addDays,
  daysBetween,
  dayOfWeek,
} from "./local-date.js";
export {
  type YearCalendar,
  type HolidayRange,
  type MakeUpWorkday,
  validateYearCalendar,
  parseYearCalendar,
  InvalidYearCalendarError,
} from "./year-calendar.js";
export {
  WorkingCalendar,
  type RollOptions,
  CalendarYearNotLoadedError,
  CalendarYearAlreadyLoadedError,
} from "./calendar.js";
export { type Limit, type LimitUnit, dueDate } from "./limit.js";
export {
  type CardColour,
  type CardInput,
  type CardDates,
  type CardStatus,
  cardDates,
  cardStatus,
} from "./cards.js";
export { calendar2026 } from "./data/2026.js";
