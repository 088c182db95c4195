import type { YearCalendar } from "../year-calendar.js";

/**
 * 2026 as published; kept as a .ts module (not .json) so it ships in dist
 * without JSON import attributes. It is still plain JSON data: an operator
 * loading a later year writes the same shape to a .json file.
 */
export const calendar2026 = {
  year: 2026,
  source: "国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04)",
  holidays: [
    { name: "元旦", from: "2026-01-01", to: "2026-01-03" },
    { name: "春节", from: "2026-02-15", to: "2026-02-23" },
    { name: "清明节", from: "2026-04-04", to: "2026-04-06" },
    { name: "劳动节", from: "2026-05-01", to: "2026-05-05" },
    { name: "端午节", from: "2026-06-19", to: "2026-06-21" },
    { name: "中秋节", from: "2026-09-25", to: "2026-09-27" },
    { name: "国庆节", from: "2026-10-01", to: "2026-10-07" },
  ],
  makeUpWorkdays: [
    { date: "2026-01-04", for: "元旦" },
    { date: "2026-02-14", for: "春节" },
    { date: "2026-02-28", for: "春节" },
    { date: "2026-05-09", for: "劳动节" },
    { date: "2026-09-20", for: "国庆节" },
    { date: "2026-10-10", for: "国庆节" },
  ],
} as const satisfies YearCalendar;
