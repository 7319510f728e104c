"""The test suite. Importing it lets the processes the tests start keep their bytecode
(tests/pycache.py): xdist's workers, CLI runs and servers inherit the environment it sets."""

from tests.pycache import keep_bytecode

keep_bytecode()
