// libzmq's NORM transport, answered "unavailable" without libnorm.
//
// Debian's libzmq.a is built with NORM support, so its objects call these 29 functions;
// linking libnorm and libprotokit for them put ~275 KiB of C++ code and its static
// constructors (addresses parsed with sscanf) into every program: ~27 more page faults at
// the start of an empty program on this VM, where a fault costs 10-40 µs. With this file
// and pgm_deferred.cpp, a deputy makes 230 page faults per run instead of 251. Nothing of ours can open a norm:// endpoint — every endpoint we
// make is built as tcp:// or inproc:// (libssi/config.h, ssi-run's deputy, the agent's
// peer links) — so none of these is reached. Should one be anyway, NormCreateInstance
// fails with EPROTONOSUPPORT, and every other call is a no-op or a failure.
// The declarations are normApi.h's own, so a signature that changes does not compile.
#include <normApi.h>

#include <cerrno>

extern "C" {

const NormInstanceHandle NORM_INSTANCE_INVALID = nullptr;
const NormSessionHandle NORM_SESSION_INVALID = nullptr;
const NormNodeHandle NORM_NODE_INVALID = nullptr;
const NormNodeId NORM_NODE_NONE = 0x00000000;
const NormNodeId NORM_NODE_ANY = 0xffffffff;
const NormObjectHandle NORM_OBJECT_INVALID = nullptr;
const NormDescriptor NORM_DESCRIPTOR_INVALID = -1;

NormInstanceHandle NormCreateInstance(bool) {
    errno = EPROTONOSUPPORT;
    return NORM_INSTANCE_INVALID;
}
void NormDestroyInstance(NormInstanceHandle) {}
void NormStopInstance(NormInstanceHandle) {}
NormDescriptor NormGetDescriptor(NormInstanceHandle) { return NORM_DESCRIPTOR_INVALID; }
bool NormGetNextEvent(NormInstanceHandle, NormEvent*, bool) { return false; }

NormSessionHandle NormCreateSession(NormInstanceHandle, const char*, UINT16, NormNodeId) {
    errno = EPROTONOSUPPORT;
    return NORM_SESSION_INVALID;
}
void NormDestroySession(NormSessionHandle) {}
NormSessionId NormGetRandomSessionId() { return 0; }
bool NormIsUnicastAddress(const char*) { return false; }
void NormSetCongestionControl(NormSessionHandle, bool, bool) {}
void NormSetDefaultSyncPolicy(NormSessionHandle, NormSyncPolicy) {}
void NormSetDefaultUnicastNack(NormSessionHandle, bool) {}
bool NormSetLoopback(NormSessionHandle, bool) { return false; }
bool NormSetMulticastInterface(NormSessionHandle, const char*) { return false; }
void NormSetRxPortReuse(NormSessionHandle, bool, const char*, const char*, UINT16) {}
bool NormSetTTL(NormSessionHandle, unsigned char) { return false; }
bool NormStartReceiver(NormSessionHandle, UINT32) { return false; }
bool NormStartSender(NormSessionHandle, NormSessionId, UINT32, UINT16, UINT16, UINT16, UINT8) { return false; }
void NormStopReceiver(NormSessionHandle) {}
void NormStopSender(NormSessionHandle) {}

void NormNodeDelete(NormNodeHandle) {}
NormObjectType NormObjectGetType(NormObjectHandle) { return NORM_OBJECT_NONE; }
const void* NormObjectGetUserData(NormObjectHandle) { return nullptr; }
void NormObjectSetUserData(NormObjectHandle, const void*) {}

NormObjectHandle NormStreamOpen(NormSessionHandle, UINT32, const char*, unsigned int) { return NORM_OBJECT_INVALID; }
void NormStreamFlush(NormObjectHandle, bool, NormFlushMode) {}
bool NormStreamRead(NormObjectHandle, char*, unsigned int* numBytes) {
    if (numBytes) *numBytes = 0;
    return false;
}
bool NormStreamSeekMsgStart(NormObjectHandle) { return false; }
unsigned int NormStreamWrite(NormObjectHandle, const char*, unsigned int) { return 0; }

}  // extern "C"
