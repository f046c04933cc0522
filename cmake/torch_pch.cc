// The translation unit that builds cmake/torch_pch.h's precompiled header (CMakeLists.txt).
