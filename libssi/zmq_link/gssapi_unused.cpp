// libzmq's GSSAPI mechanism, answered "unavailable" without Kerberos.
//
// Debian's libzmq.a is built with GSSAPI support, so its objects call these eleven
// functions; linking libgssapi_krb5 for them would load seven shared libraries into every
// program at start (CMakeLists.txt beside this file). Nothing of ours enables the mechanism
// (ZMQ_GSSAPI_SERVER / _PLAINTEXT are never set): every socket we make is CURVE, and a peer
// offering GSSAPI fails at the greeting before any of these is reached. Should libzmq call
// one anyway, it gets GSS_S_UNAVAILABLE, which it handles as a failed handshake.
// The declarations are gssapi.h's own, so a signature that changes does not compile.
#include <gssapi/gssapi.h>

namespace {

OM_uint32 unavailable(OM_uint32* minor_status) {
    if (minor_status) *minor_status = 0;
    return GSS_S_UNAVAILABLE;
}

gss_OID_desc no_name_type = {0, nullptr};

}  // namespace

extern "C" {

gss_OID GSS_C_NT_HOSTBASED_SERVICE = &no_name_type;
gss_OID GSS_C_NT_USER_NAME = &no_name_type;

OM_uint32 gss_acquire_cred(OM_uint32* minor, gss_name_t, OM_uint32, gss_OID_set, gss_cred_usage_t,
                           gss_cred_id_t*, gss_OID_set*, OM_uint32*) {
    return unavailable(minor);
}
OM_uint32 gss_release_cred(OM_uint32* minor, gss_cred_id_t*) { return unavailable(minor); }
OM_uint32 gss_init_sec_context(OM_uint32* minor, gss_cred_id_t, gss_ctx_id_t*, gss_name_t, gss_OID,
                               OM_uint32, OM_uint32, gss_channel_bindings_t, gss_buffer_t, gss_OID*,
                               gss_buffer_t, OM_uint32*, OM_uint32*) {
    return unavailable(minor);
}
OM_uint32 gss_accept_sec_context(OM_uint32* minor, gss_ctx_id_t*, gss_cred_id_t, gss_buffer_t,
                                 gss_channel_bindings_t, gss_name_t*, gss_OID*, gss_buffer_t,
                                 OM_uint32*, OM_uint32*, gss_cred_id_t*) {
    return unavailable(minor);
}
OM_uint32 gss_delete_sec_context(OM_uint32* minor, gss_ctx_id_t*, gss_buffer_t) {
    return unavailable(minor);
}
OM_uint32 gss_import_name(OM_uint32* minor, gss_buffer_t, gss_OID, gss_name_t*) {
    return unavailable(minor);
}
OM_uint32 gss_display_name(OM_uint32* minor, gss_name_t, gss_buffer_t, gss_OID*) {
    return unavailable(minor);
}
OM_uint32 gss_release_name(OM_uint32* minor, gss_name_t*) { return unavailable(minor); }
OM_uint32 gss_release_buffer(OM_uint32* minor, gss_buffer_t) { return unavailable(minor); }
OM_uint32 gss_wrap(OM_uint32* minor, gss_ctx_id_t, int, gss_qop_t, gss_buffer_t, int*, gss_buffer_t) {
    return unavailable(minor);
}
OM_uint32 gss_unwrap(OM_uint32* minor, gss_ctx_id_t, gss_buffer_t, gss_buffer_t, int*, gss_qop_t*) {
    return unavailable(minor);
}

}  // extern "C"
