/** One part of the demo: a title and a function that shows a package doing real work. */
export interface Scene {
  readonly title: string;
  run(log: (line: string) => void): Promise<void>;
}
