// The logger: pino JSON on stdout (contract §6), with credentials redacted wherever they might appear.
import { pino, type Logger } from 'pino';

/** createLogger returns warden's root logger at `level` (default info). */
export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'swarm-warden' },
      redact: { paths: ['password', 'token', 'credentials', 'secret', '*.password', '*.token', '*.credentials', '*.secret'], censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
