#include "libssi/zap.h"

#include "libssi/zmq_calls.h"


#include <array>
#include <vector>

namespace ssi {

std::string z85_to_raw(const std::string& z85_key) {
    std::string raw(32, '\0');
    if (!zmq_z85_decode(reinterpret_cast<uint8_t*>(raw.data()), z85_key.c_str())) return {};
    return raw;
}

size_t serve_zap_requests(zmq::socket_t& zap, const ZapPolicy& policy) {
    size_t refused = 0;
    while (has_input(zap)) {
        std::vector<zmq::message_t> frames = receive_queued(zap);
        if (frames.empty()) break;
        if (frames.size() < 6) continue;  // not a ZAP request; libzmq never sends these
        std::string request_id = frames[1].to_string();
        std::optional<std::string> user;
        if (frames[5].to_string() == "CURVE" && frames.size() >= 7 && frames[6].size() == 32)
            user = policy(frames[6].to_string());
        if (!user) ++refused;
        std::string user_id = user.value_or("");
        std::array<zmq::const_buffer, 6> reply = {zmq::str_buffer("1.0"), zmq::buffer(request_id),
                                                  user ? zmq::str_buffer("200") : zmq::str_buffer("400"),
                                                  user ? zmq::str_buffer("OK") : zmq::str_buffer("unknown key"),
                                                  zmq::buffer(user_id), zmq::const_buffer()};
        (void)send_frames(zap, reply);  // an inproc REP socket's reply always fits
    }
    return refused;
}

}  // namespace ssi
