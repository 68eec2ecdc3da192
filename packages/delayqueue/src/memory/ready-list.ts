/**
 * A topic's ready jobs in due order. Removing from the middle (cancel, reschedule) only bumps the job's ticket,
 * so both ends stay O(1): stale entries are skipped when they reach the head.
 */
export interface Ticketed {
  /** Changes whenever the job leaves the ready state, so entries pushed before are recognisably stale. */
  ticket: number;
}

export class ReadyList<J extends Ticketed> {
  private jobs: J[] = [];
  private tickets: number[] = [];
  private head = 0;

  push(job: J): void {
    this.jobs.push(job);
    this.tickets.push(job.ticket);
  }

  /** The oldest job whose entry is still current, or undefined. */
  shift(): J | undefined {
    while (this.head < this.jobs.length) {
      const job = this.jobs[this.head]!;
      const ticket = this.tickets[this.head]!;
      this.head++;
      if (job.ticket === ticket) {
        this.compact();
        return job;
      }
    }
    this.compact();
    return undefined;
  }

  /** The jobs whose entries are current, oldest first (the order `shift` takes them). */
  *current(): IterableIterator<J> {
    for (let i = this.head; i < this.jobs.length; i++) if (this.jobs[i]!.ticket === this.tickets[i]) yield this.jobs[i]!;
  }

  get isEmpty(): boolean {
    return this.head >= this.jobs.length;
  }

  // Drops the consumed prefix once it is half the array, so memory follows the live length (amortised O(1)).
  private compact(): void {
    if (this.head >= 1024 && this.head * 2 >= this.jobs.length) {
      this.jobs = this.jobs.slice(this.head);
      this.tickets = this.tickets.slice(this.head);
      this.head = 0;
    }
  }
}
