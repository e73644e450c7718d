// File: decode_error.hpp
//
// The one exception the core's decoders throw for a document they cannot read at all: a
// malformed AdmissionReview (the server answers 400 with the message), a watch line or a
// list that is not JSON. Objects that are only partly understood are not errors: the object
// decoders skip them with a line in DecodedObjects::errors.
#pragma once

#include <stdexcept>

namespace avw::core {

/// A document that cannot be decoded. The message is safe to send back to the client (400).
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace avw::core
