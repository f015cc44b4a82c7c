// Only the header matters (it brings fgetxattr and fsetxattr into Swift); a C
// target needs one source file.
#include "rvf_xattr.h"
