"""``python -m galzoo_fm.cli`` runs the command line, as ``python -m galzoo_fm`` and ``galzoo-fm`` do
(``torchrun --nproc-per-node N -m galzoo_fm.cli embed ...``)."""

from galzoo_fm.__main__ import main

if __name__ == "__main__":
    main()
