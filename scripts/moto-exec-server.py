#!/usr/bin/env python3
"""moto's server (same arguments as moto_server) with a fix for its Step Functions execution mode.

moto 5.2.5's interpreter deep-copies the state machine on every StartExecution; once the
machine holds a running or finished execution (which holds a thread lock), the copy fails and
every later StartExecution of that machine answers 500. The fix gives the state machine a
deep copy that shares its list of executions instead of copying it, which is what the copy is
for (the execution keeps the definition as it was when it started). Used by tests/emulated.rs.
"""
import copy

from moto.stepfunctions import models


def _deepcopy_sharing_executions(self, memo):
    clone = self.__class__.__new__(self.__class__)
    memo[id(self)] = clone
    for name, value in self.__dict__.items():
        setattr(clone, name, value if name == "executions" else copy.deepcopy(value, memo))
    return clone


models.StateMachine.__deepcopy__ = _deepcopy_sharing_executions

if __name__ == "__main__":
    from moto.server import main

    main()
