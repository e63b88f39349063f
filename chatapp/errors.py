"""The one error a user is told about, whatever layer refused or failed: a socket frame,
a chat action, the usage policy, or the API. `code` is the error frame's code
(docs/protocol.md), `message` the sentence a person reads."""


class AppError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
