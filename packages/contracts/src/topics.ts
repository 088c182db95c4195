import { catalog } from "./generated/catalog.js";
import type { EventName } from "./generated/types.js";

/** The event families; one Kafka topic each, plus its dead-letter topic. */
export const families = ["approval", "linkage", "supervision", "enforcement", "credit"] as const;
export type Family = (typeof families)[number];

/**
 * Topic names carry a major version: a change that cannot stay
 * BACKWARD_TRANSITIVE compatible gets a new topic, never a rewritten one.
 */
export function topicOf(family: Family): string {
  return `shenguan.${family}.v1`;
}

/** Where undecodable or unprocessable messages of a family's topic go, with the reason in headers. */
export function deadLetterTopicOf(family: Family): string {
  return `${topicOf(family)}.dlq`;
}

export function familyOfEvent(name: EventName): Family {
  return catalog[name].family;
}

export function topicOfEvent(name: EventName): string {
  return topicOf(familyOfEvent(name));
}

export const allTopics: readonly string[] = families.map(topicOf);
