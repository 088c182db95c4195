export { KurrentEventStore } from "./kurrent-event-store.js";
