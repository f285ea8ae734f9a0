"""Run a generated Vivado / Genus / Innovus script in plain tclsh with the tool commands stubbed.

Why: the build folder goes to a machine with the vendor tools, often hours later; a missing
brace, an undefined variable, a file the script sources but nobody wrote, or a wrong path fails
there. Here every tool command (any command tclsh does not know) is recorded instead of run,
the Tcl itself runs for real (variables, expressions, `source`, `glob`, `file exists`), and
`read_mmmc` / `-sdc_files` files are sourced too. The record is what tests check per board:
part, clock, widths, DMAs and the address map.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from ..errors import DsfError

SEP, NL = "\x1f", "\x1e"

STUB = r"""
set ::dsf_log [open $::env(DSF_DRYRUN_LOG) w]
proc ::dsf_rec {args} {
  set words {}
  foreach a $args { lappend words [string map [list "\n" "\x1e" "\x1f" " "] $a] }
  puts $::dsf_log [join $words "\x1f"]
}
rename file ::dsf_real_file
proc file {sub args} {
  if {$sub in {mkdir copy delete rename}} { ::dsf_rec file $sub {*}$args; return }
  return [::dsf_real_file $sub {*}$args]
}
proc ::dsf_source_opt {opt args} {
  set i [lsearch -exact $args $opt]
  if {$i >= 0} { foreach f [lindex $args [expr {$i + 1}]] { uplevel #0 [list source $f] } }
}
proc unknown {cmd args} {
  ::dsf_rec $cmd {*}$args
  if {$cmd eq "set_property" && [lindex $args 0] eq "-dict"} {
    foreach {k v} [lindex $args 1] { ::dsf_rec set_property_kv [lindex $args 2] $k $v }
  }
  if {$cmd eq "read_mmmc"} { uplevel #0 [list source [lindex $args 0]] }
  if {$cmd eq "create_constraint_mode"} { ::dsf_source_opt -sdc_files {*}$args }
  if {$cmd eq "make_wrapper"} { return "/dry-run/wrapper.v" }
  if {[llength $args] == 0} { return $cmd }
  return [lindex $args end]
}
if {[catch {uplevel #0 [list source $::env(DSF_DRYRUN_SCRIPT)]} msg opts]} {
  ::dsf_rec DSF_ERROR $msg [dict get $opts -errorinfo]
  close $::dsf_log
  exit 3
}
close $::dsf_log
"""


class TclDryRunError(DsfError):
    """The script fails in tclsh with the tool commands stubbed."""


def dry_run(script: str, env: dict | None = None, timeout: float = 120) -> list:
    """Run `script`; returns the recorded tool commands, each a list of words. Raises
    TclDryRunError with the Tcl error and where it happened."""
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        raise TclDryRunError("tclsh = not found is invalid: allowed an installed Tcl "
                             "(scripts/setup.sh installs tcl)")
    with tempfile.TemporaryDirectory() as tmp:
        stub, log = os.path.join(tmp, "stub.tcl"), os.path.join(tmp, "calls.log")
        with open(stub, "w") as f:
            f.write(STUB)
        e = {**os.environ, **(env or {}), "DSF_DRYRUN_LOG": log,
             "DSF_DRYRUN_SCRIPT": os.path.abspath(script)}
        r = subprocess.run([tclsh, stub], capture_output=True, text=True, env=e,
                           timeout=timeout, cwd=tmp)
        calls = []
        if os.path.exists(log):
            with open(log) as f:
                calls = [[w.replace(NL, "\n") for w in ln.rstrip("\n").split(SEP)]
                         for ln in f if ln.strip()]
    errs = [c for c in calls if c[0] == "DSF_ERROR"]
    if errs or r.returncode != 0:
        why = errs[0][2] if errs else (r.stderr or r.stdout)[-2000:]
        raise TclDryRunError(f"{script}: fails in tclsh with the tool commands stubbed:\n{why}")
    return calls


def property_values(calls) -> dict:
    """{(object, key): value} of every `set_property -dict` in the record."""
    return {(c[1], c[2]): c[3] for c in calls if c[0] == "set_property_kv"}
