# Fails when AddressSanitizer, LeakSanitizer or UBSan wrote any report.
# One message is not a report: LeakSanitizer's "Unable to get registers from
# thread N" when the process it checks at exit is SIGKILLed meanwhile (the
# forced-cleanup tests kill workers that may be exiting); LSan then skips the
# check. A log holding anything else fails the test.
file(GLOB logs "${DIR}/*")
set(bad "")
foreach(f ${logs})
  file(STRINGS ${f} lines)
  set(real FALSE)
  foreach(line IN LISTS lines)
    if(NOT line MATCHES "^==[0-9]+==Unable to get registers from thread [0-9]+\\.$" AND NOT line STREQUAL "")
      set(real TRUE)
    endif()
  endforeach()
  file(READ ${f} text)
  if(real)
    message("==== ${f}\n${text}")
    list(APPEND bad ${f})
  else()
    message("(ignored: LeakSanitizer could not stop a process being killed) ${f}: ${text}")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "sanitizer reports found in ${DIR}")
endif()
message("no sanitizer reports")
