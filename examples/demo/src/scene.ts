/** One part of the demo: a title and a function that shows a package doing real work. */
export interface Scene {
  readonly title: string;
  /** `stop` aborts on Ctrl-C: a scene that waits long stops waiting, and removes what it made on a broker. */
  run(log: (line: string) => void, stop: AbortSignal): Promise<void>;
}
