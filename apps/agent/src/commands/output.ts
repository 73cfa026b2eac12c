import { ANSI_PALETTE, type Palette, PLAIN_PALETTE } from "../core/human-output.ts";

/** Where commands write; injected so the CLI boundary and in-process tests share one implementation. */
export interface Output {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly palette: Palette;
}

export function processOutput(color: boolean): Output {
  return {
    stdout: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
    stderr: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
    palette: color ? ANSI_PALETTE : PLAIN_PALETTE,
  };
}

export function printJson(output: Output, value: unknown): void {
  output.stdout(JSON.stringify(value));
}
