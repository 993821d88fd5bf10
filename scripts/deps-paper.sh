#!/usr/bin/env bash
# Installs what `make paper` needs beyond scripts/deps.sh: a small TeX Live
# (pdflatex + the standard LaTeX packages: booktabs, graphicx, hyperref, ...).
# Kept out of scripts/deps.sh because TeX Live is large and `make test` / `make
# bench` do not need it. Idempotent.
set -euo pipefail
PKGS=(texlive-latex-base texlive-latex-recommended texlive-fonts-recommended lmodern)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "deps-paper: installing ${missing[*]}" >&2
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
fi
command -v pdflatex >/dev/null || { echo "deps-paper: pdflatex still missing" >&2; exit 1; }
