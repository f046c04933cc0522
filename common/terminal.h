// Whether this process's standard output ends up on a terminal, for output that rewrites a line
// in place there and prints plain lines into files (Slurm logs, redirected runs).
#pragma once

namespace vlm {

// Under Open MPI a rank's stdout is always a pseudo-terminal of mpirun's output forwarding, so
// isatty alone says nothing: there the answer is whether mpirun's (the parent's) stdout is a
// terminal.
bool stdout_reaches_terminal();

// Columns of that terminal; 0 when unknown.
int terminal_columns();

}  // namespace vlm
