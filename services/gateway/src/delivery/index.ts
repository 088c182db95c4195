export { deliveryPlugin, type DeliveryPluginOptions } from "./plugin.js";
export { filterWithin, isContractEvent, matches, regionCovered, regionOf, render, type DeliveryFilter, type Rendered } from "./filter.js";
export { resumePosition, streamEvents, type SseOptions } from "./sse.js";
export { LogTail } from "./log-tail.js";
export {
  signWebhook,
  SIGNATURE_HEADER,
  WebhookDispatcher,
  type DeadLetter,
  type DeliveryRunReport,
  type Webhook,
  type WebhookDispatcherOptions,
  type WebhookRetryPolicy,
} from "./webhooks.js";
