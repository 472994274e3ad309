// The one place where messages become bytes and bytes become messages.
// Wire form: a MessagePack array [protocol version, type, request id, body].
#pragma once

#include "kern-ext/result.h"
#include "libssi/wire/messages.h"

#include <span>
#include <string>

namespace ssi::wire {

std::string encode(const Envelope& envelope);

template <class T>
std::string encode(const T& body, uint64_t request_id = 0) {
    return encode(Envelope{request_id, Message{body}});
}

// Never throws: malformed, truncated, oversized, wrong-version or unknown messages come
// back as an Error saying which.
Result<Envelope> decode(std::span<const char> bytes);

// The message's name, for logs ("KillRequest").
const char* type_name(const Message& m);

}  // namespace ssi::wire
