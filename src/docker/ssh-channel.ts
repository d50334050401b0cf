// A dial-stdio channel on the SSH connection, seen by the HTTP client as its socket.
import { Duplex } from 'node:stream';
import { clearTimeout, setTimeout } from 'node:timers';
import type { ClientChannel } from 'ssh2';

/**
 * ChannelSocket makes an SSH exec channel look like the socket the HTTP client expects: timeouts, the
 * keep-alive calls, and an error instead of a silent end when the remote command fails (its stderr).
 */
export class ChannelSocket extends Duplex {
  /** timeout is the idle timeout in ms (0: none), as net.Socket's. */
  timeout = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private freeTimer: NodeJS.Timeout | undefined;
  private stderr = '';

  constructor(private readonly channel: ClientChannel, describe: string) {
    super({ allowHalfOpen: false });
    channel.on('data', (chunk: Buffer) => {
      this.touch();
      if (!this.push(chunk)) channel.pause();
    });
    channel.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString('utf8');
    });
    channel.on('error', (err: Error) => this.fail(new Error(`${describe}: ${err.message}`)));
    // 'close' comes after the remote command's exit status and all its output: a failure of the remote
    // command (no docker there, no engine behind it) is an error with what it said.
    channel.on('close', (code: number | null | undefined, signal?: string) => {
      const failed = (typeof code === 'number' && code !== 0) || (code === null && signal);
      if (failed && !this.destroyed) {
        const said = this.stderr.trim().split('\n').slice(-3).join(' ').trim();
        const how = typeof code === 'number' ? `exit status ${code}` : `signal ${signal}`;
        this.fail(new Error(`${describe}: docker system dial-stdio ended (${how})${said ? `: ${said}` : ''}`));
        return;
      }
      this.push(null);
    });
  }

  override _read(): void {
    this.channel.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.touch();
    this.channel.write(chunk, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.channel.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.freeTimer);
    try {
      this.channel.close();
    } catch {
      // Already closed with its connection.
    }
    callback(err);
  }

  /** setTimeout is net.Socket's: emit 'timeout' after `ms` without traffic (0 turns it off). */
  setTimeout(ms: number, onTimeout?: () => void): this {
    this.timeout = ms;
    if (onTimeout) {
      if (ms === 0) this.off('timeout', onTimeout);
      else this.once('timeout', onTimeout);
    }
    this.touch();
    return this;
  }

  setKeepAlive(): this {
    return this; // The SSH connection has its own keepalive.
  }

  setNoDelay(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  // An error goes only to a listener: the HTTP client drops its own once it has given up on the socket
  // (a parse error on what a remote login shell printed), and an unheard 'error' would end the process.
  private fail(err: Error): void {
    this.destroy(this.listenerCount('error') > 0 ? err : undefined);
  }

  /** closeWhenIdle closes the channel after `ms` unless it is used again first (0 cancels). */
  closeWhenIdle(ms: number): void {
    clearTimeout(this.freeTimer);
    this.freeTimer = ms > 0 ? setTimeout(() => this.destroy(), ms).unref() : undefined;
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = this.timeout > 0 && !this.destroyed ? setTimeout(() => this.emit('timeout'), this.timeout).unref() : undefined;
  }
}
