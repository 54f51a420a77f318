/** An error the user made or can fix: printed as its message alone, exit status 255 (cli/common/program.ts). */
export class CliError extends Error {}
