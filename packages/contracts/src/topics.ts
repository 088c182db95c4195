import { catalog } from "./generated/catalog.js";
import type { EventName } from "./generated/types.js";

/** The event families; one Kafka topic each, plus its dead-letter topic. */
export const families = ["approval", "linkage", "supervision", "enforcement", "credit"] as const;
export type Family = (typeof families)[number];

/** The default topic namespace; a deployment (or a test run) may use its own so several share one cluster. */
export const DEFAULT_TOPIC_PREFIX = "shenguan";

/**
 * Topic names carry a major version: a change that cannot stay
 * BACKWARD_TRANSITIVE compatible gets a new topic, never a rewritten one.
 */
export function topicOf(family: Family, prefix: string = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}.${family}.v1`;
}

/** Where undecodable or unprocessable messages of a family's topic go, with the reason in headers. */
export function deadLetterTopicOf(family: Family, prefix: string = DEFAULT_TOPIC_PREFIX): string {
  return `${topicOf(family, prefix)}.dlq`;
}

/** The family whose topic this is, under any prefix; undefined for a topic that is not a family topic. */
export function familyOfTopic(topic: string): Family | undefined {
  const m = /^(.+)\.([a-z]+)\.v1$/.exec(topic);
  return m && (families as readonly string[]).includes(m[2]!) ? (m[2] as Family) : undefined;
}

export function familyOfEvent(name: EventName): Family {
  return catalog[name].family;
}

export function topicOfEvent(name: EventName, prefix: string = DEFAULT_TOPIC_PREFIX): string {
  return topicOf(familyOfEvent(name), prefix);
}

export const allTopics: readonly string[] = families.map((f) => topicOf(f));
