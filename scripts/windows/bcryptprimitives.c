/* A stand-in for Windows' bcryptprimitives.dll, for Wine 8.0, which lacks the DLL.
 *
 * Rust's standard library (1.78 and later) draws its random numbers from ProcessPrng, which
 * Windows 10 and later export from bcryptprimitives.dll: every Rust program imports it, and
 * under Wine 8.0 none of them starts ("Library bcryptprimitives.dll ... not found"). Wine 9
 * has the DLL. This one exports ProcessPrng and fills the buffer from advapi32's
 * SystemFunction036 (RtlGenRandom), which Wine 8.0 has.
 *
 * Test environment only (scripts/test-windows puts it into the Wine prefix's system32): the
 * crate and the wheel do not ship or depend on it.
 */
#include <windows.h>

/* RtlGenRandom's export name; declared here rather than through <ntsecapi.h>'s macro. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    /* Windows' ProcessPrng always returns TRUE; failing here is louder than bad bytes. */
    return TRUE;
}
