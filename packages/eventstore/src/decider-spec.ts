import { isDeepStrictEqual } from "node:util";
import type { Decider } from "./decider.js";

/**
 * given(events).when(command).then(events) / .thenThrows(check): decider tests
 * that read as the business rule they check. Test-framework agnostic: a
 * failed expectation throws an Error with both sides.
 */
export function deciderSpec<Command, Event, State>(decider: Decider<Command, Event, State>) {
  return {
    given(events: readonly Event[]) {
      const state = events.reduce(decider.evolve, decider.initialState());
      return {
        when(command: Command) {
          const run = () => decider.decide(command, state);
          return {
            then(expected: readonly Event[]) {
              const actual = run();
              if (!isDeepStrictEqual(actual, expected)) {
                throw new Error(`decider produced\n  ${JSON.stringify(actual)}\nexpected\n  ${JSON.stringify(expected)}`);
              }
            },
            thenThrows<E extends Error>(check: (error: E) => boolean | void): void {
              let thrown: unknown;
              try {
                run();
              } catch (err) {
                thrown = err;
              }
              if (thrown === undefined) throw new Error("decider did not refuse the command");
              if (check(thrown as E) === false) throw new Error(`decider refused, but not as expected: ${(thrown as Error).message}`);
            },
          };
        },
      };
    },
  };
}
